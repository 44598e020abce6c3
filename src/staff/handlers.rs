use super::{
    Role, StaffUser,
    audit::{self, Actor},
    auth::{self, Admin, Staff},
    db,
    notifications::{self, Choice, Kind},
    tokens::Scope,
};
use crate::{
    error::{AppError, AppResult},
    platform::Platform,
    platform::{
        forms::{EmailAddress, FieldErrors, Form, text},
        http::csrf_cookie,
        mail::{self, EmailTemplate, Recipient},
        random_token, settings,
        templates::{Page, render, render_with},
        token_hash,
    },
};
use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct Search {
    #[serde(default)]
    q: String,
}

#[derive(askama::Template)]
#[template(path = "staff/login.html")]
struct LoginPage {
    page: Page,
    email: String,
    error: String,
}

pub async fn show_login(page: Page) -> AppResult<Response> {
    render(&LoginPage {
        page: page.titled("Staff sign-in"),
        email: String::new(),
        error: String::new(),
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

pub async fn log_in(
    State(state): State<Platform>,
    page: Page,
    Form(form): Form<LoginForm>,
) -> AppResult<Response> {
    state.rate_limits.check_account_login(&form.email)?;
    let candidate = db::login_candidate(&state.db, &form.email).await?;
    let stored = candidate.as_ref().and_then(|(_, h, _)| h.clone());
    let password = form.password.clone();
    let ok =
        tokio::task::spawn_blocking(move || auth::verify_password(&password, stored.as_deref()))
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
    let user = match candidate {
        Some((user, _, false)) if ok => user,
        _ => {
            let body = LoginPage {
                page: page.titled("Staff sign-in"),
                email: form.email.trim().to_string(),
                error: "That email and password do not match an active account.".into(),
            };
            return render_with(StatusCode::UNAUTHORIZED, &body);
        }
    };
    match super::two_factor_pages::after_password(&state, &user).await? {
        Some(next_step) => Ok(next_step),
        None => {
            let to_admin = Redirect::to("/admin").into_response();
            start_session(&state, &user, "", to_admin).await
        }
    }
}

/// Signs `user` in: a new session (audited, with `how` as its detail)
/// whose cookie, with a fresh CSRF token, goes on `response`.
pub(crate) async fn start_session(
    state: &Platform,
    user: &super::StaffUser,
    how: &str,
    mut response: Response,
) -> AppResult<Response> {
    let token = random_token(32);
    let mut tx = state.db.begin().await?;
    db::create_session(&mut tx, user.id, &token_hash(&token), auth::SESSION_HOURS).await?;
    audit::record(
        &mut tx,
        Actor::Staff(user),
        "login",
        "staff_user",
        user.id,
        how,
    )
    .await?;
    tx.commit().await?;
    let https = state.config.is_https();
    for cookie in [
        auth::session_cookie(token, https),
        super::two_factor_pages::pending_removal(https),
    ] {
        if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    // A new CSRF token with the new session: one planted before sign-in
    // (on a shared computer, say) is worthless after it.
    if let Some(v) = csrf_cookie(&random_token(32), https) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}

pub async fn log_out(State(state): State<Platform>, headers: HeaderMap) -> AppResult<Response> {
    let jar = CookieJar::from_headers(&headers);
    if let Some(token) = jar.get(auth::SESSION_COOKIE) {
        let hash = token_hash(token.value());
        let mut tx = state.db.begin().await?;
        let user = db::user_for_session(&state.db, &hash).await?;
        if let Some(user) = &user {
            audit::record(
                &mut tx,
                Actor::Staff(user),
                "logout",
                "staff_user",
                user.id,
                "",
            )
            .await?;
        }
        db::delete_session(&mut tx, &hash).await?;
        tx.commit().await?;
        if let Some(user) = user {
            let _ = state.staff_changes.send(user.id);
        }
    }
    let jar = CookieJar::new().add(auth::removal_cookie(state.config.is_https()));
    Ok((jar, Redirect::to("/admin/login")).into_response())
}

#[derive(askama::Template)]
#[template(path = "staff/users.html")]
struct UsersPage {
    page: Page,
    q: String,
    users: Vec<db::UserListItem>,
    roles: [Role; 3],
    form: InviteForm,
    errors: FieldErrors,
    invite_link: String,
}

#[derive(Deserialize, Default, Clone)]
pub struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
}

async fn users_page(
    state: &Platform,
    page: Page,
    q: String,
    form: InviteForm,
    errors: FieldErrors,
    invite_link: String,
) -> AppResult<Response> {
    let users = db::list_users(&state.db, &q).await?;
    let status = errors.status();
    let body = UsersPage {
        page: page.titled("Staff accounts"),
        q,
        users,
        roles: Role::ALL,
        form,
        errors,
        invite_link,
    };
    render_with(status, &body)
}

pub async fn list_users(
    _: Staff<Admin>,
    State(state): State<Platform>,
    page: Page,
    Query(search): Query<Search>,
) -> AppResult<Response> {
    users_page(
        &state,
        page,
        search.q,
        InviteForm::default(),
        FieldErrors::default(),
        String::new(),
    )
    .await
}

crate::email_template!(pub struct InviteMail { inviter: String, company: String, link: String }
    subject "email/staff_invite/subject.txt",
    text "email/staff_invite/body.txt",
    html "email/staff_invite/body.html",
);

pub async fn invite_user(
    Staff(admin, ..): Staff<Admin>,
    State(state): State<Platform>,
    page: Page,
    Form(form): Form<InviteForm>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    let email = form
        .email
        .parse::<EmailAddress>()
        .map_err(|m| errors.add("email", m))
        .ok();
    let name = display_name(&form.display_name, &mut errors);
    let role = Role::parse(&form.role);
    if role.is_none() {
        errors.add("role", "Choose a role.");
    }
    let mut tx = state.db.begin().await?;
    if let Some(email) = &email
        && db::email_taken(&mut tx, email.as_str()).await?
    {
        errors.add("email", "There is already an account with this email.");
    }
    let (Some(email), Some(name), Some(role), true) = (email, name, role, errors.is_empty()) else {
        drop(tx);
        return users_page(&state, page, String::new(), form, errors, String::new()).await;
    };
    let user_id = db::insert_user(&mut tx, email.as_str(), &name, role, None).await?;
    let token = random_token(32);
    db::insert_invite(&mut tx, user_id, &token_hash(&token), 7).await?;
    let link = state
        .config
        .base_url
        .join(&format!("admin/invite/{token}"))
        .map_err(anyhow::Error::from)?
        .to_string();
    let site = state.site();
    let invite = InviteMail {
        inviter: admin.display_name.clone(),
        company: site.company_name.clone(),
        link: link.clone(),
    };
    mail::enqueue(
        &mut tx,
        &state.keyring,
        &site,
        Recipient::System,
        "staff-invite",
        &format!("staff-invite:{user_id}"),
        &invite.to_mail(email.as_str())?,
    )
    .await?;
    audit::record(
        &mut tx,
        Actor::Staff(&admin),
        "invite",
        "staff_user",
        user_id,
        &format!("role {}", role.as_str()),
    )
    .await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    users_page(
        &state,
        page,
        String::new(),
        InviteForm::default(),
        FieldErrors::default(),
        link,
    )
    .await
}

#[derive(Deserialize)]
pub struct UpdateUserForm {
    role: String,
    #[serde(default)]
    disabled: Option<String>,
}

pub async fn update_user(
    Staff(admin, ..): Staff<Admin>,
    State(state): State<Platform>,
    Path(id): Path<i64>,
    Form(form): Form<UpdateUserForm>,
) -> AppResult<Response> {
    let role =
        Role::parse(&form.role).ok_or_else(|| AppError::Unprocessable("Unknown role.".into()))?;
    let disabled = form.disabled.is_some();
    let mut tx = state.db.begin().await?;
    let (email, old_role, old_disabled) = db::user_state(&mut tx, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let was_active_admin = old_role == "admin" && old_disabled == 0;
    if was_active_admin
        && (role != Role::Admin || disabled)
        && db::active_admins(&mut tx).await? <= 1
    {
        return Err(AppError::Unprocessable(
            "The last active admin cannot be demoted or disabled.".into(),
        ));
    }
    db::set_role_and_disabled(&mut tx, id, role, disabled).await?;
    if disabled {
        db::delete_sessions_of(&mut tx, id).await?;
        super::tokens::delete_all_of(&mut tx, id).await?;
    }
    let detail = format!(
        "{email}: role {old_role} -> {}, {}",
        role.as_str(),
        if disabled { "disabled" } else { "enabled" }
    );
    audit::record(
        &mut tx,
        Actor::Staff(&admin),
        "update",
        "staff_user",
        id,
        &detail,
    )
    .await?;
    tx.commit().await?;
    let _ = state.staff_changes.send(id);
    Ok(Redirect::to("/admin/users").into_response())
}

#[derive(askama::Template)]
#[template(path = "staff/invite.html")]
struct InvitePage {
    page: Page,
    email: String,
    display_name: String,
    errors: FieldErrors,
}

pub async fn show_invite(
    State(state): State<Platform>,
    page: Page,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let (id, email) = db::open_invite(&state.db, &token_hash(&token))
        .await?
        .ok_or(AppError::NotFound)?;
    render(&InvitePage {
        page: page.titled("Set up your account"),
        email,
        display_name: db::display_name(&state.db, id).await?.unwrap_or_default(),
        errors: FieldErrors::default(),
    })
}

#[derive(Deserialize)]
pub struct AcceptForm {
    /// Absent (an older form): the name the admin typed stays.
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    password: String,
}

/// A staff member's name as customers and colleagues see it ("Dana
/// Whitfield"): required, one line, at most 100 characters.
fn display_name(raw: &str, errors: &mut FieldErrors) -> Option<String> {
    match text(raw, 100) {
        Ok(Some(name)) if !name.contains('@') => Some(name),
        Ok(Some(_)) => {
            errors.add(
                "display_name",
                "Please enter your name as people should see it, not an email address.",
            );
            None
        }
        Ok(None) => {
            errors.add("display_name", "Please enter a name.");
            None
        }
        Err(m) => {
            errors.add("display_name", m);
            None
        }
    }
}

pub async fn accept_invite(
    State(state): State<Platform>,
    page: Page,
    Path(token): Path<String>,
    Form(form): Form<AcceptForm>,
) -> AppResult<Response> {
    let hash = token_hash(&token);
    let (user_id, email) = db::open_invite(&state.db, &hash)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut errors = FieldErrors::default();
    let typed = match form.display_name {
        Some(typed) => typed,
        None => db::display_name(&state.db, user_id)
            .await?
            .unwrap_or_default(),
    };
    let name = display_name(&typed, &mut errors);
    if let Some(problem) = auth::password_problem(&form.password) {
        errors.add("password", problem);
    }
    let Some(name) = name.filter(|_| errors.is_empty()) else {
        let body = InvitePage {
            page: page.titled("Set up your account"),
            email,
            display_name: typed,
            errors,
        };
        return render_with(StatusCode::UNPROCESSABLE_ENTITY, &body);
    };
    let password = form.password;
    let password_hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|e| AppError::Internal(e.into()))??;
    let mut tx = state.db.begin().await?;
    if !db::use_invite(&mut tx, &hash, user_id, &password_hash, &name).await? {
        return Err(AppError::NotFound);
    }
    audit::record(
        &mut tx,
        Actor::System(&email),
        "accept-invite",
        "staff_user",
        user_id,
        "",
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/login").into_response())
}

#[derive(askama::Template)]
#[template(path = "staff/audit.html")]
struct AuditPage {
    page: Page,
    q: String,
    entries: Vec<db::AuditEntry>,
}

pub async fn list_audit(
    _: Staff<Admin>,
    State(state): State<Platform>,
    page: Page,
    Query(search): Query<Search>,
) -> AppResult<Response> {
    let entries = db::list_audit(&state.db, search.q.trim(), 500).await?;
    render(&AuditPage {
        page: page.titled("Audit log"),
        q: search.q,
        entries,
    })
}

#[derive(askama::Template)]
#[template(path = "staff/settings.html")]
struct SettingsPage {
    page: Page,
    values: Vec<(&'static str, &'static str, String)>,
    errors: FieldErrors,
    saved: bool,
    zones: &'static [chrono_tz::Tz],
    require_two_factor: bool,
}

fn settings_values(get: impl Fn(&str) -> String) -> Vec<(&'static str, &'static str, String)> {
    settings::FIELDS
        .iter()
        .map(|(k, label)| (*k, *label, get(k)))
        .collect()
}

pub async fn show_settings(
    _: Staff<Admin>,
    State(state): State<Platform>,
    page: Page,
) -> AppResult<Response> {
    let site = state.site();
    render(&SettingsPage {
        page: page.titled("Settings"),
        values: settings_values(|k| site.get(k).to_string()),
        errors: FieldErrors::default(),
        saved: false,
        zones: &chrono_tz::TZ_VARIANTS,
        require_two_factor: super::two_factor::required(&state.db).await?,
    })
}

pub async fn save_settings(
    Staff(admin, ..): Staff<Admin>,
    State(state): State<Platform>,
    page: Page,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    let mut values = Vec::new();
    let before = state.site();
    for (key, _) in settings::FIELDS {
        // A form from before the zone was a setting keeps the current one.
        let raw = match form.get(*key) {
            Some(raw) => raw.as_str(),
            None if *key == "time_zone" => before.time_zone.name(),
            None => "",
        };
        match text(raw, 500) {
            Ok(Some(v)) => values.push((*key, v)),
            Ok(None) => errors.add(key, "This cannot be empty."),
            Err(m) => errors.add(key, m),
        }
    }
    if let Some((_, email)) = values.iter().find(|(k, _)| *k == "contact_email")
        && let Err(m) = email.parse::<EmailAddress>()
    {
        errors.add("contact_email", m);
    }
    if let Some((_, zone)) = values.iter_mut().find(|(k, _)| *k == "time_zone") {
        match settings::parse_time_zone(zone) {
            Ok(tz) => *zone = tz.name().to_string(),
            Err(m) => errors.add("time_zone", m),
        }
    }
    if !errors.is_empty() {
        let body = SettingsPage {
            page: page.titled("Settings"),
            values: settings_values(|k| form.get(k).cloned().unwrap_or_default()),
            errors,
            saved: false,
            zones: &chrono_tz::TZ_VARIANTS,
            require_two_factor: super::two_factor::required(&state.db).await?,
        };
        return render_with(StatusCode::UNPROCESSABLE_ENTITY, &body);
    }
    let mut tx = state.db.begin().await?;
    let mut changed = Vec::new();
    for (key, value) in &values {
        if before.get(key) != value {
            changed.push(*key);
        }
        settings::put(&mut tx, key, value).await?;
    }
    audit::record(
        &mut tx,
        Actor::Staff(&admin),
        "update",
        "settings",
        "site",
        &changed.join(", "),
    )
    .await?;
    tx.commit().await?;
    state.reload_site().await?;
    let site = state.site();
    let mut response = render(&SettingsPage {
        page: Page {
            site: site.clone(),
            ..page
        }
        .titled("Settings"),
        values: settings_values(|k| site.get(k).to_string()),
        errors: FieldErrors::default(),
        saved: true,
        zones: &chrono_tz::TZ_VARIANTS,
        require_two_factor: super::two_factor::required(&state.db).await?,
    })?;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// A name to start with when none was given: the words of the address's
/// local part, capitalised ("dana.whitfield@…" is "Dana Whitfield"); the
/// member can change it in their own settings.
pub fn name_from_email(email: &str) -> String {
    let local = email.split('@').next().unwrap_or_default();
    let words: Vec<String> = local
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !w.chars().all(|c| c.is_ascii_digit()))
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|first| {
                    first
                        .to_uppercase()
                        .chain(chars.flat_map(char::to_lowercase))
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect();
    if words.is_empty() {
        "Staff member".into()
    } else {
        words.join(" ")
    }
}

/// Creates a staff account from the command line (the first admin); with
/// no `name`, one made from the address ([`name_from_email`]).
pub async fn add_user_cli(
    state: &Platform,
    email: &str,
    name: Option<&str>,
    role: Role,
    password: &str,
) -> anyhow::Result<i64> {
    let email: EmailAddress = email.parse().map_err(|m: &str| anyhow::anyhow!(m))?;
    let name = match name {
        Some(raw) => {
            let mut errors = FieldErrors::default();
            display_name(raw, &mut errors)
                .ok_or_else(|| anyhow::anyhow!("--name: {}", errors.get("display_name")))?
        }
        None => name_from_email(email.as_str()),
    };
    if let Some(problem) = auth::password_problem(password) {
        anyhow::bail!("password too short: {problem}");
    }
    let hash = auth::hash_password(password)?;
    let mut tx = state.db.begin().await?;
    if db::email_taken(&mut tx, email.as_str()).await? {
        anyhow::bail!("a staff account with email {email} already exists");
    }
    let id = db::insert_user(&mut tx, email.as_str(), &name, role, Some(&hash)).await?;
    audit::record(
        &mut tx,
        Actor::System("cli"),
        "create",
        "staff_user",
        id,
        &format!("role {}", role.as_str()),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

#[derive(askama::Template)]
#[template(path = "staff/account.html")]
struct AccountPage {
    page: Page,
    display_name: String,
    time_zone: String,
    errors: FieldErrors,
    saved: bool,
    zones: &'static [chrono_tz::Tz],
    api: ApiTokensSection,
    two_factor: super::two_factor::Status,
    notifications: ChoicesSection,
    password: PasswordSection,
}

/// The password part of the account page (`staff/password.html`).
#[derive(Default)]
struct PasswordSection {
    errors: FieldErrors,
    saved: bool,
    min_chars: usize,
}

impl PasswordSection {
    fn new(saved: bool) -> PasswordSection {
        PasswordSection {
            errors: FieldErrors::default(),
            saved,
            min_chars: auth::MIN_PASSWORD_CHARS,
        }
    }
}

/// The notification choices part of the account page
/// (`staff/notification_choices.html`).
struct ChoicesSection {
    rows: Vec<Choice>,
    /// Why the form was refused, if it was.
    error: String,
    saved: bool,
}

impl ChoicesSection {
    async fn load(state: &Platform, user: &StaffUser, saved: bool) -> AppResult<ChoicesSection> {
        Ok(ChoicesSection {
            rows: notifications::choices(&state.db, user.id).await?,
            error: String::new(),
            saved,
        })
    }
}

/// The API tokens part of the account page (`staff/api_tokens.html`).
#[derive(Default)]
struct ApiTokensSection {
    tokens: Vec<super::tokens::TokenListItem>,
    /// The scopes this member may give a token, with their words.
    scopes: Vec<(&'static str, &'static str)>,
    /// A token just made: its secret, shown this once.
    new_secret: String,
    form: TokenForm,
    errors: FieldErrors,
    revoked: bool,
}

impl ApiTokensSection {
    async fn load(state: &Platform, user: &StaffUser) -> AppResult<ApiTokensSection> {
        Ok(ApiTokensSection {
            tokens: super::tokens::list(&state.db, user.id).await?,
            scopes: Scope::allowed_for(user.role)
                .into_iter()
                .map(|s| (s.as_str(), s.label()))
                .collect(),
            ..ApiTokensSection::default()
        })
    }

    fn chosen(&self, scope: &str) -> bool {
        self.form.scopes.iter().any(|s| s == scope)
    }

    fn expired(&self, token: &super::tokens::TokenListItem, now: &i64) -> bool {
        token.expired(*now)
    }

    fn lifetimes(&self) -> &'static [(&'static str, &'static str)] {
        TOKEN_LIFETIMES
    }
}

/// The form that makes a token: scopes arrive as repeated `scopes` fields.
#[derive(Default)]
struct TokenForm {
    name: String,
    scopes: Vec<String>,
    expires_days: String,
}

/// Days a new token may live, as offered (empty: no expiry).
const TOKEN_LIFETIMES: &[(&str, &str)] = &[
    ("30", "30 days"),
    ("90", "90 days"),
    ("365", "1 year"),
    ("", "No expiry"),
];

#[derive(Deserialize, Default)]
pub struct Saved {
    #[serde(default)]
    saved: String,
}

/// A member's own settings: the name people see, the zone they read times in.
pub async fn show_account(
    Staff(user, ..): Staff,
    State(state): State<Platform>,
    page: Page,
    Query(saved): Query<Saved>,
) -> AppResult<Response> {
    let mut api = ApiTokensSection::load(&state, &user).await?;
    api.revoked = saved.saved == "revoked";
    let mut body = own_account_page(&state, page, &user, saved.saved == "1", api).await?;
    body.notifications.saved = saved.saved == "notifications";
    body.password.saved = saved.saved == "password";
    render(&body)
}

/// The member's own page again with a refused form's messages (422).
async fn account_refused(
    state: &Platform,
    page: Page,
    user: &StaffUser,
    mark: impl FnOnce(&mut AccountPage),
) -> AppResult<Response> {
    let api = ApiTokensSection::load(state, user).await?;
    let mut body = own_account_page(state, page, user, false, api).await?;
    mark(&mut body);
    render_with(StatusCode::UNPROCESSABLE_ENTITY, &body)
}

async fn own_account_page(
    state: &Platform,
    page: Page,
    user: &StaffUser,
    saved: bool,
    api: ApiTokensSection,
) -> AppResult<AccountPage> {
    Ok(AccountPage {
        page: page.titled("Your settings"),
        display_name: user.display_name.clone(),
        time_zone: user
            .time_zone
            .map(|z| z.name().to_string())
            .unwrap_or_default(),
        errors: FieldErrors::default(),
        saved,
        zones: &chrono_tz::TZ_VARIANTS,
        api,
        two_factor: super::two_factor::status(&state.db, user.id).await?,
        notifications: ChoicesSection::load(state, user, false).await?,
        password: PasswordSection::new(false),
    })
}

/// Makes an API token and shows its secret, this once.
pub async fn create_token(
    Staff(user, ..): Staff,
    State(state): State<Platform>,
    page: Page,
    Form(fields): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let mut api = ApiTokensSection::load(&state, &user).await?;
    for (key, value) in fields {
        match key.as_str() {
            "name" => api.form.name = value,
            "scopes" => api.form.scopes.push(value),
            "expires_days" => api.form.expires_days = value,
            _ => {}
        }
    }
    let mut errors = FieldErrors::default();
    let name = match text(&api.form.name, 80) {
        Ok(Some(n)) => Some(n),
        Ok(None) => {
            errors.add(
                "token_name",
                "Please name the token after what will use it.",
            );
            None
        }
        Err(e) => {
            errors.add("token_name", e);
            None
        }
    };
    let allowed = Scope::allowed_for(user.role);
    let mut scopes = Vec::new();
    for typed in &api.form.scopes {
        match Scope::parse(typed) {
            Some(scope) if allowed.contains(&scope) => scopes.push(scope),
            Some(_) => errors.add(
                "token_scopes",
                "A token cannot do more than your role allows.",
            ),
            None => errors.add("token_scopes", "Unknown scope."),
        }
    }
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        errors.add("token_scopes", "Please choose at least one scope.");
    }
    let now = state.clock.now();
    let expires_at = match TOKEN_LIFETIMES
        .iter()
        .find(|(days, _)| *days == api.form.expires_days)
    {
        Some(("", _)) => None,
        Some((days, _)) => Some(now + days.parse::<i64>().unwrap_or(30) * 86_400_000),
        None => {
            errors.add("token_expires", "Please choose how long the token lives.");
            None
        }
    };
    let (Some(name), true) = (name, errors.is_empty()) else {
        api.errors = errors;
        let body = own_account_page(&state, page, &user, false, api).await?;
        return render_with(StatusCode::UNPROCESSABLE_ENTITY, &body);
    };
    let mut tx = state.db.begin().await?;
    let (_, secret) =
        super::tokens::create(&mut tx, &user, &name, &scopes, now, expires_at).await?;
    tx.commit().await?;
    let mut api = ApiTokensSection::load(&state, &user).await?;
    api.new_secret = secret;
    let mut response = render(&own_account_page(&state, page, &user, false, api).await?)?;
    // The secret is on this page only: no cache keeps it.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Revokes one of the member's own tokens.
pub async fn revoke_token(
    Staff(user, ..): Staff,
    State(state): State<Platform>,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    if !super::tokens::revoke(&mut tx, &user, id).await? {
        return Err(AppError::NotFound);
    }
    tx.commit().await?;
    Ok(Redirect::to("/admin/account?saved=revoked").into_response())
}

#[derive(Deserialize)]
pub struct AccountForm {
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    time_zone: String,
}

pub async fn save_account(
    Staff(user, ..): Staff,
    State(state): State<Platform>,
    page: Page,
    Form(form): Form<AccountForm>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    let name = display_name(&form.display_name, &mut errors);
    // Empty: follow the company's zone.
    let zone = match form.time_zone.trim() {
        "" => Some(String::new()),
        typed => settings::parse_time_zone(typed)
            .map(|tz| tz.name().to_string())
            .map_err(|m| errors.add("time_zone", m))
            .ok(),
    };
    let (Some(name), Some(zone), true) = (name, zone, errors.is_empty()) else {
        let body = AccountPage {
            page: page.titled("Your settings"),
            display_name: form.display_name,
            time_zone: form.time_zone,
            errors,
            saved: false,
            zones: &chrono_tz::TZ_VARIANTS,
            api: ApiTokensSection::load(&state, &user).await?,
            two_factor: super::two_factor::status(&state.db, user.id).await?,
            notifications: ChoicesSection::load(&state, &user, false).await?,
            password: PasswordSection::new(false),
        };
        return render_with(StatusCode::UNPROCESSABLE_ENTITY, &body);
    };
    let mut tx = state.db.begin().await?;
    db::set_profile(&mut tx, user.id, &name, &zone).await?;
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "update",
        "staff_user",
        user.id,
        "own name and time zone",
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/account?saved=1").into_response())
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    repeat_password: String,
}

/// Changes the member's own password: the current one first (limited per
/// account as sign-in is), the new one twice and long enough. Every other
/// session of theirs ends; this one stays. Audited, refusals of a wrong
/// current password too. Nothing changes unless everything is right.
pub async fn change_password(
    Staff(user, ..): Staff,
    State(state): State<Platform>,
    page: Page,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    if let Some(problem) = auth::password_problem(&form.new_password) {
        errors.add("new_password", problem);
    } else if form.repeat_password != form.new_password {
        errors.add(
            "repeat_password",
            "The two new passwords differ: type the same one in both boxes.",
        );
    }
    if form.current_password.is_empty() {
        errors.add("current_password", "Type your current password.");
    } else {
        state.rate_limits.check_account_login(&user.email)?;
        let stored = db::password_hash(&state.db, user.id).await?;
        let typed = form.current_password.clone();
        let right =
            tokio::task::spawn_blocking(move || auth::verify_password(&typed, stored.as_deref()))
                .await
                .map_err(|e| AppError::Internal(e.into()))?;
        if !right {
            errors.add(
                "current_password",
                "That is not your current password. Type the one you signed in with.",
            );
            let mut tx = state.db.begin().await?;
            audit::record(
                &mut tx,
                Actor::Staff(&user),
                "password-refused",
                "staff_user",
                user.id,
                "own password not changed: a wrong current password",
            )
            .await?;
            tx.commit().await?;
        } else if form.new_password == form.current_password && errors.is_empty() {
            errors.add(
                "new_password",
                "That is your current password: choose a new one.",
            );
        }
    }
    if !errors.is_empty() {
        return account_refused(&state, page, &user, |body| body.password.errors = errors).await;
    }
    let password = form.new_password;
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|e| AppError::Internal(e.into()))??;
    let this_session = CookieJar::from_headers(&headers)
        .get(auth::SESSION_COOKIE)
        .map(|c| token_hash(c.value()))
        .unwrap_or_default();
    let mut tx = state.db.begin().await?;
    db::set_password(&mut tx, user.id, &hash).await?;
    let ended = db::delete_other_sessions(&mut tx, user.id, &this_session).await?;
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "password",
        "staff_user",
        user.id,
        &format!(
            "own password changed; {ended} other session{} signed out",
            if ended == 1 { "" } else { "s" }
        ),
    )
    .await?;
    tx.commit().await?;
    // Open consoles of the ended sessions close.
    let _ = state.staff_changes.send(user.id);
    Ok(Redirect::to("/admin/account?saved=password#password").into_response())
}

/// Saves the member's notification choices: each kind's `mail` and `app`
/// boxes (repeated fields naming the kinds ticked). A kind nobody offers is
/// refused with a message and nothing changes.
pub async fn save_notification_choices(
    Staff(user, ..): Staff,
    State(state): State<Platform>,
    page: Page,
    Form(fields): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let mut rows: Vec<Choice> = Kind::ALL
        .into_iter()
        .map(|kind| Choice {
            kind,
            by_mail: false,
            in_app: false,
        })
        .collect();
    let mut error = String::new();
    for (key, value) in &fields {
        let chosen = Kind::parse(value).and_then(|k| rows.iter_mut().find(|c| c.kind == k));
        match (key.as_str(), chosen) {
            ("csrf", _) => {}
            ("mail", Some(c)) => c.by_mail = true,
            ("app", Some(c)) => c.in_app = true,
            ("mail" | "app", None) => {
                error = "That is not a kind of notification we send; please choose from the table."
                    .into()
            }
            _ => error = "Please use the table's boxes to choose your notifications.".into(),
        }
    }
    if !error.is_empty() {
        return account_refused(&state, page, &user, |body| body.notifications.error = error).await;
    }
    let words = |pick: fn(&Choice) -> bool| {
        let on: Vec<&str> = rows
            .iter()
            .filter(|c| pick(c))
            .map(|c| c.kind.as_str())
            .collect();
        if on.is_empty() {
            "none".to_string()
        } else {
            on.join(", ")
        }
    };
    let detail = format!(
        "own notifications: mail {}; back office {}",
        words(|c| c.by_mail),
        words(|c| c.in_app)
    );
    let mut tx = state.db.begin().await?;
    notifications::save_choices(&mut tx, user.id, &rows).await?;
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "update",
        "staff_user",
        user.id,
        &detail,
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/account?saved=notifications#notifications").into_response())
}
